"""Data files shipped in the package: public mailbox domains, RDAP tables, WHOIS servers, the demo scenario.

No code, and imports nothing: the modules that need a file read it with importlib.resources.
"""
