"""Judge on change, not on read: the judged state every reader of the daemon shares.

``deadlines`` says when a judgement runs out (pure); ``cache`` keeps every channel's judgement
current as polls land, store faults come and go, and deadlines pass.
"""

from monitor.judgement.cache import Judgements
from monitor.judgement.deadlines import PostLog, next_change

__all__ = ["Judgements", "PostLog", "next_change"]
