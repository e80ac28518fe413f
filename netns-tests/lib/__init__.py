# SPDX-License-Identifier: GPL-2.0-only
"""Helpers of the sluice end-to-end tests: namespaces, the agent, traffic."""
