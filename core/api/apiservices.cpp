#include "apiservices.h"

ApiServices::ApiServices(ApiConfig configuration, Store *openStore,
                         std::shared_ptr<const AuditLog> auditLog,
                         std::shared_ptr<const SecretKey> pepper)
    : config(std::move(configuration))
    , store(openStore)
    , audit(auditLog)
    , keys(std::move(pepper), auditLog)
    , authFailures(auditLog)
    , jobs(auditLog)
    , connections(config.maxConnections, config.maxConnectionsPerIp)
    , bans(auditLog, BanList::Policy{config.banFailures, config.banWindowMs, config.banMs})
{
    m_clock.start();
}
