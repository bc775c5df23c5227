"""mesh: an example third-party network driver, in the spirit of Weave Net.

A separate program: it talks to the emulator only through Docker's remote network
driver protocol on $CNM_PLUGIN_DIR/mesh.sock, and to the kernel only through
iproute2 (`ip`, `bridge`). It imports nothing from the rest of `emulator` but
emulator.pluginhttp, the plugin protocol's server (standard library only).

Per host, one daemon (`mesh launch`) runs

  router   TCP 6783 on the underlay address: peers gossip membership and endpoint
           locations (gossip.py)
  plugin   HTTP on a Unix socket: Plugin.Activate, NetworkDriver.* (plugin.py, driver.py)
  data     per network a bridge mb-<id8> and a VXLAN mv-<id8> (UDP 6784, unicast,
  plane    no learning); the VXLAN forwarding database is programmed from gossip:
           head-end replication of broadcasts to every peer, endpoint MACs to the
           peer that has them (dataplane.py)
  proxy    once `mesh env` asks for it: the host's Engine API on a socket of its own
           (STATE_DIR/docker.sock), passed through unchanged except that a container
           created without a network joins the mesh network "mesh" (proxy.py), as
           Weave's proxy did; `eval $(mesh env)` points the docker CLI at it
           (shellenv.py), `eval $(mesh env --restore)` back

and the `mesh` command (cli.py) launches it, connects it to more peers, shows its
state, prints the proxy's exports and stops it (control.py: files and control
socket).
"""
