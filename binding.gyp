{
  # The zstd and xxHash sources are compiled from the copies that the zstd-napi and xxhash-addon
  # dependencies ship, found at configure time by native/zstd-sources.cjs and
  # native/xxhash-sources.cjs; this repo holds no third-party C code.
  'variables': {
    'zstd_include': '<!(node native/zstd-sources.cjs include)',
    'xxhash_include': '<!(node native/xxhash-sources.cjs include)',
  },
  'target_defaults': {
    'cflags': ['-O3', '-fPIC', '-fvisibility=hidden'],
    'cflags!': ['-O2'],
    # ZSTD_MULTITHREAD stays undefined: the addon's pool already runs one zstd call per block
    # per thread, and zstd's own workers would only compete with it.
    'defines': [
      'ZSTD_NO_TRACE',
      'ZSTDLIB_VISIBLE=',
      'ZSTDERRORLIB_VISIBLE=',
    ],
    'xcode_settings': {
      'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
  },
  'targets': [
    {
      # The scheduler's own addon (scheduler/exec.ts): execv, to restart Node with start-up-only
      # V8 flags. Apart from cr_native, so that the job addon holds nothing only the scheduler uses.
      'target_name': 'cr_exec',
      'sources': ['native/exec/exec.cc'],
      'include_dirs': ['<!(node -p "require(\'node-addon-api\').include_dir")'],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
      'cflags_cc': ['-std=c++17', '-fexceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
      'cflags!': ['-fno-exceptions'],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      },
    },
    {
      'target_name': 'cr_zstd',
      'type': 'static_library',
      'sources': ['<!@(node native/zstd-sources.cjs sources)'],
      'include_dirs': ['<(zstd_include)'],
      'conditions': [
        # The hand-written Huffman decoder is x86-64 GNU assembly; elsewhere zstd's C path is used.
        ['target_arch=="x64" and OS!="win"', {
          'sources': ['<!@(node native/zstd-sources.cjs asm)'],
        }, {
          'defines': ['ZSTD_DISABLE_ASM'],
        }],
      ],
    },
    {
      # XXH64 and XXH3 (native/src/hash.cc); on x86 XXH3 runs with the widest vectors the CPU has.
      'target_name': 'cr_xxhash',
      'type': 'static_library',
      'sources': ['<!@(node native/xxhash-sources.cjs sources)'],
      'include_dirs': ['<(xxhash_include)'],
      'conditions': [
        ['target_arch=="x64" or target_arch=="ia32"', {
          'sources': ['<!@(node native/xxhash-sources.cjs dispatch)'],
        }],
      ],
      'direct_dependent_settings': {
        'include_dirs': ['<(xxhash_include)'],
        'conditions': [
          ['target_arch=="x64" or target_arch=="ia32"', { 'defines': ['CR_XXH_DISPATCH'] }],
        ],
      },
    },
    {
      'target_name': 'cr_native',
      'dependencies': ['cr_zstd', 'cr_xxhash'],
      'sources': [
        'native/src/addon.cc',
        'native/src/args.cc',
        'native/src/block-files.cc',
        'native/src/blocks.cc',
        'native/src/codec.cc',
        'native/src/cow.cc',
        'native/src/cow-handler.cc',
        'native/src/dirty.cc',
        'native/src/hash.cc',
        'native/src/helpers.cc',
        'native/src/planes.cc',
        'native/src/pool.cc',
        'native/src/predict.cc',
        'native/src/readblocks.cc',
        'native/src/region.cc',
        'native/src/plane-groups.cc',
        'native/src/serialize.cc',
        'native/src/shuffle.cc',
        'native/src/simd.cc',
        'native/src/stream-out.cc',
        'native/src/uffd.cc',
        'native/src/staging.cc',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
        '<(zstd_include)',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        # std::bad_alloc and friends become JS errors instead of aborting the process.
        'NODE_ADDON_API_CPP_EXCEPTIONS_ALL',
        # A Worker being terminated cannot take a JS exception: without this, an error thrown in
        # a call that its termination interrupted (napi_throw fails) is rethrown as a C++
        # exception from node-addon-api's own catch block, and std::terminate aborts the process.
        'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
      ],
      'cflags_cc': ['-std=c++17', '-fexceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
      'cflags!': ['-fno-exceptions'],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': ['/std:c++17'] },
      },
      'conditions': [
        ['OS=="win"', { 'defines': ['_HAS_EXCEPTIONS=1'] }],
      ],
    },
  ],
}
