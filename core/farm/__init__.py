"""Render farms: StyleLock jobs as Open Job Description job bundles (`openjd`), written as YAML
by a small emitter (`yaml_text`) so the library needs no YAML package."""
