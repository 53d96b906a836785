"""The compliance scanner: does a site really honour consent? (issue 16; README, "Scanning your site").

known.py the lists of known cookies and trackers; findings.py the rules; browse.py the three visits per page in
Chromium; guard.py what a scan may reach; scans.py stored scans and the worker; report.py the result document.
"""
