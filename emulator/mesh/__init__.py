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

and the `mesh` command (cli.py) launches it, connects it to more peers, shows its
state and stops it (control.py: files and control socket).
"""
