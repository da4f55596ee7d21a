# The ICMP socket addon (Node-API, C interface: ABI-stable, no per-node-version rebuilds).
# Built by scripts/build-native.mjs with npm's bundled node-gyp against the installed node
# headers (--nodedir): never downloads anything.
{
  'targets': [
    {
      'target_name': 'netscan_icmp',
      'sources': ['icmp_socket.cc'],
      'cflags_cc': ['-std=gnu++17', '-O2', '-Wall', '-Wextra', '-fvisibility=hidden'],
      'libraries': ['-ldl'],
    },
  ],
}
