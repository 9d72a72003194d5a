"""What every host plugin shares: Nuke, Blender and the CLI's host commands use these, so a host
adapter is left with nothing but its host's own calls.

- `job`: `RemoteJob`, one restyle on a server run off the host's main thread, with a poller the
  host's UI (a Nuke callback, a Blender timer or modal operator) calls to show progress.
- `fields`: engine parameters as UI fields, built from the schema the server publishes, and the
  values a user set for each engine, kept across engine switches and saved with the scene.
- `styles`: painted keyframe rows (`1001=path`) and look images, parsed with line-numbered errors.
- `cache`: where a host renders its plate and receives restyled frames, per script and node.
- `preview`: the look-development job around the current frame (proxy size, the engine's fast mode).
- `messages`: any failure as the one line a node or a status bar shows.
- `packaging`: the client's wheels for a host's Python and platform (`stylelock hosts ...`).

Only the standard library and the thin client are imported here: a host's Python runs these.
"""
