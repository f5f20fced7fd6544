"""maskforge's built-in plugins (installed as the ``maskforge_plugins`` package).

Each module is a plugin loaded through the ``maskforge`` entry-point group, exactly like a
third-party plugin: ``core`` registers the core scores, pruners, growers, allocators,
averagers and schedules; ``console`` prints mask updates as they happen.
"""
