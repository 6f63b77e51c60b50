#include "security/durablefile.h"
#include "security/filesecretslot.h"

#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

class TestFileSecretSlot : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void writesPrivateFile();
    void refusesLooseModes_data();
    void refusesLooseModes();
    void missingIsNotAnError();
    void readOnlyRefusesWrites();
    void refusesSharedDirectory();

private:
    QTemporaryDir m_dir;
};

void TestFileSecretSlot::writesPrivateFile()
{
    const QString path = m_dir.filePath(QStringLiteral("secret"));
    FileSecretSlot slot(path, true);
    QVERIFY(slot.writeNow("abc\n").ok());
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(path).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0600u);
    const auto text = slot.readNow();
    QVERIFY(text.ok());
    QCOMPARE(*text.value(), QByteArray("abc\n"));
    QVERIFY(slot.writeNow("def\n").ok()); // replaces atomically
    QCOMPARE(*slot.readNow().value(), QByteArray("def\n"));
    QVERIFY(slot.removeNow().ok());
    QVERIFY(!slot.readNow().value().has_value());
}

void TestFileSecretSlot::refusesLooseModes_data()
{
    QTest::addColumn<int>("mode");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("0600") << 0600 << true;
    QTest::newRow("0400") << 0400 << true;
    QTest::newRow("0640") << 0640 << false;
    QTest::newRow("0604") << 0604 << false;
    QTest::newRow("0644") << 0644 << false;
    QTest::newRow("0660") << 0660 << false;
    QTest::newRow("0606") << 0606 << false;
}

void TestFileSecretSlot::refusesLooseModes()
{
    QFETCH(int, mode);
    QFETCH(bool, accepted);
    const QString path = m_dir.filePath(QStringLiteral("key-%1").arg(mode, 0, 8));
    FileSecretSlot slot(path, true);
    QVERIFY(slot.writeNow(QByteArray(64, 'a') + '\n').ok());
    QCOMPARE(::chmod(QFile::encodeName(path).constData(), static_cast<mode_t>(mode)), 0);
    const auto text = slot.readNow();
    QCOMPARE(text.ok(), accepted);
    if (!accepted) {
        QVERIFY2(text.error().contains(QStringLiteral("chmod 600 ") + path),
                 qPrintable(text.error()));
        QVERIFY(text.error().contains(QString::number(mode, 8)));
    }
}

void TestFileSecretSlot::missingIsNotAnError()
{
    FileSecretSlot slot(m_dir.filePath(QStringLiteral("absent")), true);
    const auto text = slot.readNow();
    QVERIFY(text.ok());
    QVERIFY(!text.value().has_value());
}

void TestFileSecretSlot::readOnlyRefusesWrites()
{
    FileSecretSlot slot(m_dir.filePath(QStringLiteral("ro")), false);
    QVERIFY(!slot.writeNow("x").ok());
    QVERIFY(!slot.removeNow().ok());
}

void TestFileSecretSlot::refusesSharedDirectory()
{
    const QString shared = m_dir.filePath(QStringLiteral("shared"));
    QVERIFY(QDir().mkpath(shared));
    QCOMPARE(::chmod(QFile::encodeName(shared).constData(), 0755), 0);
    const Expected<void> result = DurableFile::ensurePrivateDirectory(shared);
    QVERIFY(!result.ok());
    QVERIFY(result.error().contains(QStringLiteral("chmod 700")));
    const QString fresh = m_dir.filePath(QStringLiteral("fresh/nested"));
    QVERIFY(DurableFile::ensurePrivateDirectory(fresh).ok());
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(fresh).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0700u);
}

QTEST_GUILESS_MAIN(TestFileSecretSlot)
#include "tst_filesecretslot.moc"
