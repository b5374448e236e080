"""The `pcagent` command line, one module per command group; `pcagent.cli.main` builds the parser."""
