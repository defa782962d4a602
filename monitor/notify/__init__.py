"""Native notifications: events decided from the judgements, stored, and delivered once to webhooks.

``events`` is the pure part: what changed since people were last told (state changes, failing
polls, reminders, digests), from the judged views and the recorded alert states. ``store`` is the
event log and its deliveries, recorded and claimed atomically. ``job`` is the shell that runs the
rounds (evaluate, record, send) on the coordinating daemon. ``message`` writes the webhook bodies,
and ``markup`` makes platform text inert for each receiver's markup.

Notifications depend on the judgement, settings and the store, never on another part's
presentation (the pages, the JSON API, the CLI): ``tests/test_architecture.py`` checks.
"""
