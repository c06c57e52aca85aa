// posenc/posenc.hpp — everything in one include.
#pragma once

#include "posenc/alibi.hpp"
#include "posenc/cuda.hpp"
#include "posenc/dtype.hpp"
#include "posenc/embed.hpp"
#include "posenc/error.hpp"
#include "posenc/learned.hpp"
#include "posenc/positions.hpp"
#include "posenc/precision.hpp"
#include "posenc/rope.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/t5_bias.hpp"
#include "posenc/tensor.hpp"
#include "posenc/threads.hpp"
#include "posenc/version.hpp"
