"""Opens a socket on the realtime service once per key given (`-` for none) and prints, a JSON
line each, the first frame the server sends: a refused socket opens and closes at once, its
code and reason saying why. A second client beside the Swift one, as browsers and most
libraries read close frames the way this one does."""
import json
import sys

import websocket

url = sys.argv[1]
for key in sys.argv[2:]:
    headers = [] if key == "-" else [f"Authorization: Bearer {key}"]
    socket = websocket.create_connection(url, header=headers, timeout=10)
    opcode, data = socket.recv_data(control_frame=True)
    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
    print(json.dumps({"opcode": opcode, "code": code, "reason": data[2:].decode()}))
    socket.close()
