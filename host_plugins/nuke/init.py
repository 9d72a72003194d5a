# StyleLock for Nuke: runs in every Nuke session, GUI or not (NUKE_PATH folder set up by
# `stylelock hosts nuke install`). Nothing to register for render-only sessions: the StyleLock node is
# a Group whose buttons import `stylelock_nuke` when pressed, and farm scripts call `stylelock_nuke.farm`.
