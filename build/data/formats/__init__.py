"""One module per MovieLens file layout, plus the shared reading and title rules they use."""
