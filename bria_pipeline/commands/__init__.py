"""One module per command (plan, apply, destroy, refresh, import, show, review), each a function
over a `Workspace`: the spec and the files beside it, opened once. `Pipeline` is their facade."""
