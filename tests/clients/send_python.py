"""Sends events with the real segment-analytics-python to `serve`.

Usage: python send_python.py HOST WRITE_KEY COUNT [ACKED_FILE]

With ACKED_FILE, events are sent one request each (sync mode) and the id of
every event the server answered 200 is appended to the file: the kill test
checks that each of them reached Encharge.
"""
import sys

from segment.analytics import Client


def main():
    host, write_key, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    acked_path = sys.argv[4] if len(sys.argv) > 4 else None
    errors = []
    client = Client(write_key, host=host, gzip=True, max_retries=3, upload_size=100,
                    sync_mode=acked_path is not None, on_error=lambda e, batch: errors.append(e))
    acked = open(acked_path, "a") if acked_path else None
    for i in range(count):
        user = "py-user-%d" % (i % 13)
        event_id = "py-%d" % i
        kind = i % 5
        try:
            if kind == 0:
                client.identify(user, {"email": "%s@example.com" % user, "plan": "trial", "n": i})
            elif kind == 1:
                client.track(user, "Order Completed", {"id": event_id, "revenue": i})
            elif kind == 2:
                client.page(user, "Docs", "Serve", {"id": event_id})
            elif kind == 3:
                client.group(user, "g-%d" % (i % 3), {"name": "Group %d" % (i % 3)})
            else:
                client.track(user, "Signed Up", {"id": event_id})
        except Exception as e:  # sync mode: the server was down for this one
            print("not acknowledged: %s: %s" % (event_id, e), file=sys.stderr)
            continue
        if acked is not None and kind in (1, 2, 4):
            acked.write(event_id + "\n")
            acked.flush()
    client.flush()
    client.join()
    if errors and acked_path is None:
        print("errors: %r" % errors[:3], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
