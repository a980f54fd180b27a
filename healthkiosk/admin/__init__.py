"""The administrator's tools behind ``healthkiosk admin`` and ``healthkiosk broker``:
the broker's configuration (:mod:`healthkiosk.admin.brokerconf`) and release
bundles (:mod:`healthkiosk.admin.release`)."""
