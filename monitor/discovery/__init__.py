"""Discovery: the channels an organisation's own website links, against those monitored.

A monitor only watches what it is told about; pages nobody keeps up are often pages the team
forgot it had. The organisation's website names its channels (footer icons, ``rel="me"``,
JSON-LD ``sameAs``, feed links), so reading it finds the ones missing from the configuration.

``fetch`` reads pages politely (robots.txt, caps), ``links`` parses what a page links and where,
``handles`` turns a link into a platform and a handle, ``site`` decides which pages to read and
which links count, ``resolve`` asks YouTube and LinkedIn for the ids their links do not hold,
``check`` runs it per organisation, ``compare`` sets the result against the configuration,
``store`` keeps it, ``output`` prints it, ``command`` is ``channel-monitor discover`` and
``job`` the daemon's ``[discovery] every``.
"""
