"""pytest-oslab: prove an OpenStack cloud does what its install guide says."""
