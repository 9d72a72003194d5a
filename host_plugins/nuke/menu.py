# StyleLock for Nuke: the GUI's menus and panel (Nodes > StyleLock, Windows > Custom > StyleLock Jobs).
import stylelock_nuke

stylelock_nuke.register_gui()
