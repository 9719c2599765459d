"""Opens a page in headless Chromium with an Authorization header, as a browser behind a
tenant's sign-in would send it, saves a full-page screenshot and prints what the page showed.

usage: dashboard_screenshot.py URL TOKEN PNG
prints one JSON object: status, title, svgs (the number of SVG charts), text (the page's text).
Chromium is driven over its DevTools protocol: its command line cannot send a header.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


class DevTools:
    def __init__(self, url):
        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def send(self, method, params=None):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(method)


def main():
    url, token, png = sys.argv[1:4]
    profile = tempfile.mkdtemp(prefix="switchyard-chromium-")
    chromium = subprocess.Popen(
        [os.environ.get("CHROMIUM", "chromium"), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--hide-scrollbars", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline or chromium.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = DevTools(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.send("Network.enable")
        page.send("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {token}"}})
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        page.wait_for("Page.loadEventFired")
        document = next(e for e in page.events if e.get("method") == "Network.responseReceived"
                        and e["params"].get("type") == "Document")
        found = page.send("Runtime.evaluate", {"returnByValue": True, "expression": """JSON.stringify({
            title: document.title, svgs: document.querySelectorAll('svg').length, text: document.body.innerText})"""})
        shown = json.loads(found["result"]["value"])
        shot = page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(png, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        print(json.dumps({"status": document["params"]["response"]["status"], **shown}))
    finally:
        chromium.kill()
        chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
