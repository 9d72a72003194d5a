"""The host plugins' own files, shipped as data: `host_plugins/nuke/` (a NUKE_PATH folder) and
`host_plugins/blender/` (a Blender extension). They are not imported from here: `stylelock hosts
nuke install` and `stylelock hosts blender build` copy them, with the client, into what a host loads."""
