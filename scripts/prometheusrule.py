"""Print deploy/kubernetes/prometheusrule.yaml: the shipped alert rules as a PrometheusRule.

    python scripts/prometheusrule.py > deploy/kubernetes/prometheusrule.yaml

The rule file, deploy/prometheus/channel-monitor-rules.yml, is the one source: its groups become
the manifest's spec word for word (comments included), and a test checks the manifest is
exactly this script's output, so the two never drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "channel-monitor-rules.yml"

HEADER = """\
# GENERATED from deploy/prometheus/channel-monitor-rules.yml by scripts/prometheusrule.py; do not
# edit by hand (a test fails if this file and the rule file differ).
#
# The alert rules for the Prometheus Operator (e.g. kube-prometheus-stack), beside
# servicemonitor.yaml. Its Prometheus selects rules by label (ruleSelector): kube-prometheus-stack's
# default is `release: <helm release name>`; add that label here if yours does. Without the
# operator, drop this file from kustomization.yaml and load the rule file itself.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: channel-monitor
  labels:
    app.kubernetes.io/name: channel-monitor
spec:
"""


def manifest(rules: str) -> str:
    """The manifest for the rule file's text: its ``groups:`` and what follows, under ``spec``."""
    lines = rules.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "\n".join(f"  {line}" if line.strip() else "" for line in lines[start:])
    return HEADER + body + "\n"


def main() -> int:
    sys.stdout.write(manifest(RULES.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
