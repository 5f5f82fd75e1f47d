"""policywatch's terminal front ends: the `policywatch` command and the Textual app."""
