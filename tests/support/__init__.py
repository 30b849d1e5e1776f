"""What every test tier shares: settings, processes, media, stacks of real services, test-only
plugins. Test modules and conftests import from here, never from each other's conftest."""
