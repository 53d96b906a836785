"""What auditors reach: the audit API (bearer tokens), the auditor console, and the queries and exports both use."""
