"""Simulated Exchange organization (behind a WS-Management server) and Entra ID + Microsoft Graph.

Test infrastructure, also used by the demo. Everything listens on 127.0.0.1 only.
"""
