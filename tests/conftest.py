# pytester drives the plugin's own tests (tests/unit/plugin, tests/lab); it must be named at the top level.
pytest_plugins = ["pytester"]
