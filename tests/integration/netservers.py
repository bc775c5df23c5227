"""Small servers the integration tests run in containers to see what reaches them."""

PEER_SERVER = """
import socket, threading
name = socket.gethostname()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('', 53))
    while True:
        data, peer = u.recvfrom(512)
        u.sendto(f'{name} {peer[0]}'.encode(), peer)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('', 80))
t.listen(16)
while True:
    c, peer = t.accept()
    c.sendall(f'{name} {peer[0]}'.encode())
    c.close()
"""
"""Answers each TCP connection (port 80) and UDP datagram (port 53) with its hostname
and the source address it saw."""
