"""The compliance scanner: does a site really honour consent? (issue 16). Its lists of known cookies and
trackers first (known.py); the scan itself follows."""
