#include "farm.h"

#include "store/store.h"

#include <QCoreApplication>
#include <QFileInfo>

Farm::Farm(QObject *parent)
    : QObject(parent)
{
    m_thread.setObjectName(QStringLiteral("farm"));
}

Farm::~Farm()
{
    if (m_supervisor) {
        // Not stopped in order: at least leave no worker and no thread.
        QMetaObject::invokeMethod(
            m_supervisor, [this] { delete m_supervisor; }, Qt::BlockingQueuedConnection);
        m_supervisor = nullptr;
    }
    m_thread.quit();
    m_thread.wait();
}

QString Farm::workerProgram()
{
    const QString dir = QCoreApplication::applicationDirPath();
    const QString candidates[] = {
        dir + QStringLiteral("/framehouse-worker"),
        dir + QStringLiteral("/../libexec/framehouse/framehouse-worker"),
    };
    for (const QString &candidate : candidates) {
        const QFileInfo info(candidate);
        if (info.isFile() && info.isExecutable())
            return info.canonicalFilePath();
    }
    return candidates[0];
}

void Farm::start(Store *store, std::shared_ptr<const AuditLog> audit, Supervisor::Config config)
{
    m_store = store;
    m_supervisor = new Supervisor(store, std::move(audit), std::move(config));
    m_supervisor->moveToThread(&m_thread);
    m_thread.start();
    QMetaObject::invokeMethod(m_supervisor, &Supervisor::start, Qt::QueuedConnection);
}

void Farm::stop(std::function<void()> done)
{
    if (!m_supervisor) {
        done();
        return;
    }
    Supervisor *supervisor = m_supervisor;
    QMetaObject::invokeMethod(supervisor, [this, supervisor, done = std::move(done)]() mutable {
        supervisor->stop([this, supervisor, done = std::move(done)]() mutable {
            // In the farm thread, from inside the supervisor's own call
            // stack: its connection is released here, the object later.
            m_store->releaseThreadConnection();
            supervisor->deleteLater();
            QMetaObject::invokeMethod(this, [this, done = std::move(done)] {
                m_supervisor = nullptr;
                m_thread.quit();
                m_thread.wait();
                done();
            });
        });
    });
}

void Farm::wake()
{
    if (m_supervisor)
        QMetaObject::invokeMethod(m_supervisor, &Supervisor::wake, Qt::QueuedConnection);
}
