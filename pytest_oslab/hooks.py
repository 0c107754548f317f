"""pytest-oslab's own hook, added by the plugin (``pytest_addhooks``)."""


def pytest_oslab_worker_input(config) -> dict:
    """On the xdist controller: what each worker is told, merged into its ``workerinput`` by the plugin's one
    channel to the workers. Each of the plugin's parts returns its own keys (an empty dict: nothing to tell)."""
