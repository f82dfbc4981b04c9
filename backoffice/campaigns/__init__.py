"""Campaigns a marketer runs: offers with pictures and texts in Russian and English, targeted by store,
zone, daypart and the momentary signals of a visit the shopper consented to (never who the shopper is), a
schedule with dayparts and validity dates, drafts published as signed catalogue releases (with an
optional second admin's approval), version history with diffs and rollback, the devices' reported versions,
proof of play per offer and version, and a preview drawn as the kiosk draws (docs/campaigns.md).

- :mod:`~backoffice.campaigns.settings`: ``[campaigns]`` of ``backoffice serve --settings``;
- :mod:`~backoffice.campaigns.schema`: the tables (named migrations, SQLite and PostgreSQL);
- :mod:`~backoffice.campaigns.images`: pictures checked and resized on upload (Pillow);
- :mod:`~backoffice.campaigns.drafts`: the draft (offers and dayparts), every offer validated by the
  contract's catalogue schema when saved;
- :mod:`~backoffice.campaigns.publishing`: releases built, validated, signed and sent to a store or the
  fleet; approvals, versions, diffs, rollback;
- :mod:`~backoffice.campaigns.device_versions`: what each device reported (``catalogue/result``, stored by
  the ingest) and who is behind, and why;
- :mod:`~backoffice.campaigns.proof_of_play`: the hourly rollup per offer and catalogue version,
  maintained by the ingest, and its report;
- :mod:`~backoffice.campaigns.preview`: the offer drawn with Pillow where the kiosk draws it
  (:mod:`offer_layout`);
- :mod:`~backoffice.campaigns.link`: the MQTT side (releases out, ``redeem`` commands out, their results in).

Redemption at the till is :mod:`backoffice.redemption`. Nothing here imports the web stack.
"""
