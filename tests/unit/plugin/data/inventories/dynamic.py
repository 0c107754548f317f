#!/usr/bin/env python3
"""A dynamic inventory script (what a CMDB export looks like to Ansible): --list prints the groups."""
import json
import sys

if "--host" in sys.argv:
    print("{}")
    sys.exit(0)
print(json.dumps({
    "_meta": {"hostvars": {"cmp-a.example.org": {"ansible_host": "198.51.100.201", "ansible_user": "ops"}}},
    "compute": {"hosts": ["cmp-a.example.org", "cmp-b.example.org"], "vars": {"ansible_port": 2222}},
    "controllers": {"hosts": ["ctl.example.org"]},
}))
