"""Station management: what ``kiosk-sync`` does for the administrators.

Remote configuration (:mod:`management.remote_config`), remote commands
(:mod:`management.commands`), software update orders
(:mod:`management.update_orders`) and the station's status figures
(:mod:`management.stationhealth`, :mod:`management.devicestatus`), brought
together by :class:`management.station.StationManagement`, which the link
(:mod:`sync.link`) is given at start. The server side of the same work is the
fleet page (:mod:`followup.fleet`).
"""
