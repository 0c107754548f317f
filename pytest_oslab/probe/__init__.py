"""The gate's data-plane probe: what a workload feels while its cloud is upgraded.

``agent`` is the script that runs on a node, inside the namespace that reaches the guests; ``control`` starts it,
stops it and reads its files back through the node access layer; ``pytest_oslab.facts.probe`` turns its files into
figures; ``pytest_oslab.report.probe`` draws them.
"""
