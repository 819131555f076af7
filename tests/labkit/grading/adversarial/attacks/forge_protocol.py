# Attack: write the grader's protocol messages ourselves (claim the cells are done, send answers).
import json
import os
import sys

_fd = int(sys.argv[-1]) if sys.argv[-1].isdigit() else 4
_messages = [{"event": "done", "cell": 999, "error": None}, {"event": "cells_done"}]
_messages += [{"event": "answer", "id": i, "results": [{"value": 12}] * 8} for i in range(5)]
for _message in _messages:
    try:
        os.write(_fd, (json.dumps(_message) + "\n").encode())
    except OSError as err:
        print("could not forge:", err)
