def pytest_configure(config):
    config.addinivalue_line("markers", "slow: boots a VM or does other real work taking tens of seconds "
                                       "(deselect with -m 'not slow')")
