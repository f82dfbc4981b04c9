"""The application: the composition root that builds, starts and stops the workers (:mod:`.root`), the
supervisor (:mod:`.workers`), the screen's port onto the running brain (:mod:`.screen_port`) and
``kiosk demo`` (:mod:`.demo`).
"""
