"""Provider harnesses for the ChatModel contract suite: every module here defining `make_harness()` is run."""
