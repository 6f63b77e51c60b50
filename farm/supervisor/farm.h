#pragma once

#include "supervisor.h"

#include <QObject>
#include <QThread>

#include <functional>

// The farm as the engine holds it: the supervisor in its own thread (so the
// GUI or API thread never waits on a worker or on the store's write lock).
class Farm : public QObject {
    Q_OBJECT
public:
    explicit Farm(QObject *parent = nullptr);
    ~Farm() override;

    // framehouse-worker beside this executable, else in
    // ../libexec/framehouse/ (the installed layout).
    static QString workerProgram();

    void start(Store *store, std::shared_ptr<const AuditLog> audit, Supervisor::Config config);
    // Running jobs go back to the queue; `done` runs in this object's thread
    // once every worker is gone and the thread has ended.
    void stop(std::function<void()> done);
    // A job was submitted in this process: look at the queue now.
    void wake();

private:
    QThread m_thread;
    Supervisor *m_supervisor = nullptr;
    Store *m_store = nullptr;
};
