"""A capture connector written against the protocol directly (no kit: it starts in a blink), for
the crash/resume harness's own tests. It counts: documents {"id": n} for n = cursor+1 .. total,
`per_checkpoint` per checkpoint {"cursor": n}, `pause` seconds apart, then it idles (or exits
with `exit: true`). Its config's `mode` makes it wrong on purpose, as connectors go wrong:

  ok            correct
  cursor_ahead  checkpoints a cursor one sequence ahead of its documents: a kill loses those
  resend        re-emits the last committed document when it resumes (a committed duplicate)
  backwards     once resumed, its first checkpoint moves the cursor back by one
  acks          asks for explicit acknowledgements and waits for each before going on
"""

import json
import sys
import time

SPEC = {
    "protocol": 3032023,
    "configSchema": {"type": "object"},
    "resourceConfigSchema": {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    },
    "documentationUrl": "https://example.com/counter",
    "resourcePathPointers": ["/name"],
}


def out(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def checkpoint(cursor):
    out({"checkpoint": {"state": {"updated": {"cursor": cursor}, "mergePatch": True}}})


def run(open_request):
    config = open_request["capture"]["config"]
    mode = config.get("mode", "ok")
    total, per, pause = (
        int(config.get("total", 100)),
        int(config.get("per_checkpoint", 5)),
        float(config.get("pause", 0)),
    )
    cursor = (open_request.get("state") or {}).get("cursor", 0)
    out({"opened": {"explicitAcknowledgements": mode == "acks"}})
    if mode == "resend" and cursor:
        out({"captured": {"binding": 0, "doc": {"id": cursor}}})
    first = True
    n = cursor
    while n < total:
        last = min(n + per, total)
        for i in range(n + 1, last + 1):
            out({"captured": {"binding": 0, "doc": {"id": i}}})
        if mode == "cursor_ahead":
            checkpoint(min(last + per, total))
        elif mode == "backwards" and first and cursor:
            checkpoint(cursor - 1)
        else:
            checkpoint(last)
        first = False
        n = last
        if mode == "acks":
            line = sys.stdin.readline()
            if not line:
                return 0
            assert json.loads(line)["acknowledge"]["checkpoints"] == 1
        time.sleep(pause)
    if config.get("exit"):
        return 0
    time.sleep(3600)
    return 0


def main():
    for line in sys.stdin:
        request = json.loads(line)
        if "spec" in request:
            out({"spec": SPEC})
        elif "validate" in request:
            bindings = request["validate"]["bindings"]
            out(
                {
                    "validated": {
                        "bindings": [{"resourcePath": [b["resourceConfig"]["name"]]} for b in bindings]
                    }
                }
            )
        elif "apply" in request:
            out({"applied": {"actionDescription": ""}})
        elif "open" in request:
            return run(request["open"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
