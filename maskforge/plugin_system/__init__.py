"""The plugin system: hook specifications (pluggy), the registry of named components and the
manager that loads plugins from the ``maskforge`` entry-point group."""
