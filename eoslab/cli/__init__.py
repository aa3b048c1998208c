"""The ``eoslab`` command line: one module per subcommand."""
