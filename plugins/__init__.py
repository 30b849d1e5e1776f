"""Built-in encoder plugins, registered through the ``assistant.plugins`` entry-point group."""
