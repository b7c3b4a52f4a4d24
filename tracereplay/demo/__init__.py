"""The demo: a small Mattermost-like chat service to point runs at (:mod:`tracereplay.demo.target`),
its action pack (:mod:`tracereplay.demo.actions`) and the bundled sample traces used by ``tracereplay demo``.
"""
