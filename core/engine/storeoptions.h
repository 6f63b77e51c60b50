#pragma once

#include "store/storeopener.h"

#include <QCommandLineParser>

// --store DIR and --key-file FILE, shared by every executable, with
// FRAMEHOUSE_STORE and FRAMEHOUSE_KEY_FILE as fallbacks.
namespace StoreOptions {
void addTo(QCommandLineParser &parser);
StoreRequest requestFrom(const QCommandLineParser &parser);
} // namespace StoreOptions
